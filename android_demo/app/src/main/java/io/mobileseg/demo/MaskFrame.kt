package io.mobileseg.demo

import android.graphics.Bitmap
import io.mobileseg.core.OverlayFrames

/**
 * Hands the overlay (ARGB pixels at the model's size) from the analysis thread to the UI thread,
 * through the core's [OverlayFrames]: the analysis thread publishes each new overlay with the
 * epoch its frame started in, so a frame still being segmented when Reset is pressed cannot put
 * its mask back; the UI thread copies the newest overlay into the Bitmap it owns just before
 * drawing it ([copyInto]). So a Bitmap is only ever written on the thread that draws it, never
 * while the renderer reads it, and nothing is allocated per frame.
 */
class MaskFrame(val width: Int, val height: Int) {
    val frames = OverlayFrames(width, height)

    /** UI thread (or the analysis thread after an error): nothing to draw, and masks of frames in flight are dropped. */
    fun reset() = frames.reset()

    fun visible(): Boolean = frames.visible()

    /**
     * UI thread: brings [bitmap] (`width x height`, ARGB_8888) up to date when a newer overlay
     * arrived since version [seen]; returns the version it now holds.
     */
    fun copyInto(bitmap: Bitmap, seen: Long): Long =
        frames.drawInto({ argb -> bitmap.setPixels(argb, 0, width, 0, 0, width, height) }, seen)
}
