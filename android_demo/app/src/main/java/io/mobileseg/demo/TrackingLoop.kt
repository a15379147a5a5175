package io.mobileseg.demo

import android.util.Log
import androidx.camera.core.ImageProxy
import io.mobileseg.core.BoxMask
import io.mobileseg.core.FrameClock
import io.mobileseg.core.FrameConverter
import io.mobileseg.core.Overlay
import io.mobileseg.core.Runner
import io.mobileseg.core.Tracker
import java.nio.ByteBuffer
import java.util.Locale
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicReference

/**
 * The per-frame work, all on the one analysis thread:
 *
 *     camera image (RGBA) -> frame tensor [1, 3, H, W]
 *     box drawn?  -> mask from the box, init(frame, mask)    (the box mask is the first overlay)
 *     tracking?   -> step(frame, state) -> prob -> overlay
 *
 * It owns the core [Tracker] (every buffer, and the memory fed back frame to frame) and the
 * current [Segmenter]. The tracker calls whichever segmenter is current, so switching between
 * XNNPACK and the GPU keeps the memory and tracking goes on. Requests from the UI thread (a box,
 * a reset) arrive through the atomics; results leave through [MaskFrame] and [Ui].
 */
class TrackingLoop(
    first: Segmenter,
    private val pendingBox: AtomicReference<FloatArray?>,
    private val resetRequested: AtomicBoolean,
    val masks: MaskFrame,
    private val ui: Ui,
) : AutoCloseable {

    /** Called on the analysis thread; implementations post to the UI thread. */
    interface Ui {
        /** The camera frames' geometry changed: the preview <-> model mapping must follow. */
        fun geometry(converter: FrameConverter)

        /** A new overlay is in [masks] (or it was cleared). */
        fun overlayChanged()

        /** Tracking started (a box was taken) or stopped (reset, error). */
        fun tracking(started: Boolean)

        /** Speed while tracking, or what went wrong. */
        fun status(text: String)
    }

    var segmenter: Segmenter = first
        private set

    private val contract = first.contract
    private val height = contract.height()
    private val width = contract.width()
    private val tracker = Tracker(contract, Runner { entry, inputs, outputs -> segmenter.run(entry, inputs, outputs) })
    private val overlay = Overlay(height, width)
    private val clock = FrameClock(30)
    private var converter: FrameConverter? = null
    private var lastStatusNanos = 0L

    /** Runs on the next frames with [next] instead; the memory stays. */
    fun switchTo(next: Segmenter) {
        val old = segmenter
        segmenter = next
        old.close()
        clock.reset()
    }

    /** One camera frame; always closes [image] so that CameraX delivers the next one. */
    fun analyze(image: ImageProxy) {
        try {
            process(image)
        } catch (e: Exception) {
            Log.e(TAG, "frame failed", e)
            tracker.reset()
            masks.clear()
            ui.overlayChanged()
            ui.tracking(false)
            ui.status("Error on ${segmenter.backend}: ${e.message ?: e.javaClass.simpleName}. Draw a box to start again.")
        } finally {
            image.close()
        }
    }

    private fun process(image: ImageProxy) {
        if (resetRequested.getAndSet(false)) {
            tracker.reset()
            clock.reset()
            masks.clear()
            ui.overlayChanged()
            ui.tracking(false)
        }
        val rotation = image.imageInfo.rotationDegrees
        val frames = converter?.takeIf { it.matches(image.width, image.height, rotation) }
            ?: FrameConverter(image.width, image.height, rotation, height, width).also {
                converter = it
                ui.geometry(it)
            }
        val box = pendingBox.getAndSet(null)
        if (box == null && !tracker.started()) {
            return // nothing to track yet: the preview alone is shown
        }
        if (box != null && BoxMask.fill(box, height, width, tracker.mask()) == 0) {
            ui.status("That box covers no pixel of the model's input: drag a larger box.")
            return
        }
        val plane = image.planes[0]
        frames.convert(plane.buffer, plane.rowStride, plane.pixelStride, tracker.frame())

        val start = System.nanoTime()
        val shown: ByteBuffer = if (box != null) {
            tracker.init()
            tracker.mask() // the box itself is the first overlay
        } else {
            tracker.step()
        }
        val end = System.nanoTime()

        overlay.render(shown, contract.maskThreshold(), MASK_COLOR)
        masks.publish(overlay.pixels())
        ui.overlayChanged()
        if (box != null) {
            clock.reset()
            ui.tracking(true)
        }
        clock.tick(end, end - start)
        if (box != null || end - lastStatusNanos >= STATUS_EVERY_NANOS) {
            lastStatusNanos = end
            ui.status(speed())
        }
    }

    private fun speed(): String {
        val ms = clock.msPerFrame()
        val fps = clock.fps()
        return String.format(
            Locale.US,
            "%s ms/frame · %s FPS · %dx%d · %s",
            if (ms.isNaN()) "–" else String.format(Locale.US, "%.1f", ms),
            if (fps.isNaN()) "–" else String.format(Locale.US, "%.1f", fps),
            height,
            width,
            segmenter.backend,
        )
    }

    override fun close() {
        segmenter.close()
    }

    companion object {
        private const val TAG = "mobileseg"

        /** Translucent light blue, ARGB. */
        private val MASK_COLOR = 0x8033CCFF.toInt()
        private const val STATUS_EVERY_NANOS = 250_000_000L
    }
}
