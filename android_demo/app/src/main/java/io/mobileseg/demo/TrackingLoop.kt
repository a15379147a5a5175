package io.mobileseg.demo

import android.util.Log
import androidx.camera.core.ImageProxy
import io.mobileseg.core.BackendRunner
import io.mobileseg.core.BoxMask
import io.mobileseg.core.FrameClock
import io.mobileseg.core.FrameConverter
import io.mobileseg.core.Overlay
import io.mobileseg.core.Tracker
import java.nio.ByteBuffer
import java.util.Locale
import java.util.concurrent.atomic.AtomicReference

/** A box the user drew, in model pixels, and the overlay epoch it was drawn in ([MaskFrame.frames]). */
class PendingBox(val box: FloatArray, val epoch: Long)

/**
 * The per-frame work, all on the one analysis thread:
 *
 *     camera image (RGBA, its crop rectangle) -> frame tensor [1, 3, H, W]
 *     box drawn?  -> mask from the box, init(frame, mask)    (the box mask is the first overlay)
 *     tracking?   -> step(frame, state) -> prob -> overlay
 *
 * It owns the core [Tracker] (every buffer, and the memory fed back frame to frame) and the
 * core [BackendRunner] over the current [Segmenter]. The tracker calls whichever segmenter is
 * current, so switching between XNNPACK and the GPU keeps the memory and tracking goes on; a GPU
 * that fails while running is replaced by XNNPACK on the spot, the same frame is run again, and
 * [Ui.fellBack] says so. Requests from the UI thread arrive through [pendingBox] and the overlay
 * epoch (Reset starts a new one: the tracker forgets its object before the next frame, and the
 * mask of a frame in flight is not shown); results leave through [MaskFrame] and [Ui].
 */
class TrackingLoop(
    first: Segmenter,
    openCpu: () -> Segmenter,
    private val pendingBox: AtomicReference<PendingBox?>,
    val masks: MaskFrame,
    private val ui: Ui,
) : AutoCloseable {

    /** Called on the analysis thread; implementations post to the UI thread. */
    interface Ui {
        /** The camera frames' geometry changed: the preview <-> model mapping must follow. */
        fun geometry(converter: FrameConverter)

        /** A new overlay is in [masks] (or it was cleared). */
        fun overlayChanged()

        /** Tracking started (a box was taken) or stopped (error). */
        fun tracking(started: Boolean)

        /** Speed while tracking, or what went wrong. */
        fun status(text: String)

        /** The GPU failed while running; XNNPACK runs from now on, for [reason]. */
        fun fellBack(reason: String)
    }

    private val contract = first.contract
    private val height = contract.height()
    private val width = contract.width()
    private val runner = BackendRunner(first) { openCpu() }
    private val tracker = Tracker(contract, runner)
    private val overlay = Overlay(height, width)
    private val clock = FrameClock(30)
    private var converter: FrameConverter? = null
    private var lastStatusNanos = 0L
    private var epoch = masks.frames.epoch()

    /** The segmenter the next frames run on. */
    val segmenter: Segmenter get() = runner.current() as Segmenter

    /** Runs on the next frames with [next] instead; the memory stays. */
    fun switchTo(next: Segmenter) {
        runner.switchTo(next)
        clock.reset()
    }

    /** One camera frame; always closes [image] so that CameraX delivers the next one. */
    fun analyze(image: ImageProxy) {
        try {
            process(image)
        } catch (e: Exception) {
            Log.e(TAG, "frame failed", e)
            tracker.reset()
            masks.reset()
            ui.overlayChanged()
            ui.tracking(false)
            ui.status("Error on ${segmenter.name()}: ${e.message ?: e.javaClass.simpleName}. Draw a box to start again.")
        } finally {
            image.close()
        }
    }

    private fun process(image: ImageProxy) {
        // The epoch first, then the box: a box drawn after a Reset this frame has not seen waits for the next frame.
        val frameEpoch = masks.frames.epoch()
        if (frameEpoch != epoch) {
            epoch = frameEpoch // Reset was pressed: forget the object
            tracker.reset()
            clock.reset()
        }
        val crop = image.cropRect // with the preview's ViewPort: the part of the image the preview shows
        val rotation = image.imageInfo.rotationDegrees
        val frames = converter?.takeIf { it.matches(image.width, image.height, crop.left, crop.top, crop.right, crop.bottom, rotation) }
            ?: FrameConverter(image.width, image.height, crop.left, crop.top, crop.right, crop.bottom, rotation, height, width).also {
                converter = it
                ui.geometry(it)
            }
        val pending = pendingBox.getAndSet(null)
        val box = when {
            pending == null -> null
            pending.epoch == frameEpoch -> pending.box
            pending.epoch > frameEpoch -> { // drawn after a Reset this frame started before
                pendingBox.compareAndSet(null, pending)
                null
            }
            else -> null // drawn before a Reset
        }
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
        runner.takeFallback()?.let {
            Log.w(TAG, it)
            ui.fellBack(it)
        }

        overlay.render(shown, contract.maskThreshold(), MASK_COLOR)
        if (!masks.frames.publish(overlay.pixels(), frameEpoch)) {
            return // Reset was pressed while this frame was segmented: its mask is not shown
        }
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
            segmenter.name(),
        )
    }

    override fun close() {
        runner.close()
    }

    companion object {
        private const val TAG = "mobileseg"

        /** Translucent light blue, ARGB. */
        private val MASK_COLOR = 0x8033CCFF.toInt()
        private const val STATUS_EVERY_NANOS = 250_000_000L
    }
}
