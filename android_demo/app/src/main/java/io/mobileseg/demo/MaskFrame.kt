package io.mobileseg.demo

import android.graphics.Bitmap

/**
 * Hands the overlay (ARGB pixels at the model's size) from the analysis thread to the UI thread.
 *
 * The analysis thread copies each new overlay in under a short lock ([publish], an array copy);
 * the UI thread copies the newest one into the Bitmap it owns just before drawing it
 * ([copyInto]). So a Bitmap is only ever written on the thread that draws it, never while the
 * renderer reads it, and nothing is allocated per frame.
 */
class MaskFrame(val width: Int, val height: Int) {
    private val lock = Any()
    private val pixels = IntArray(width * height)
    private var version = 0L
    private var shown = false

    /** Analysis thread: [argb] (`width * height` pixels, row-major) is the newest overlay. */
    fun publish(argb: IntArray) {
        synchronized(lock) {
            System.arraycopy(argb, 0, pixels, 0, pixels.size)
            shown = true
            version++
        }
    }

    /** Any thread: nothing to draw (no object tracked). */
    fun clear() {
        synchronized(lock) {
            shown = false
            version++
        }
    }

    fun visible(): Boolean = synchronized(lock) { shown }

    /**
     * UI thread: brings [bitmap] (`width x height`, ARGB_8888) up to date when a newer overlay
     * arrived since version [seen]; returns the version it now holds.
     */
    fun copyInto(bitmap: Bitmap, seen: Long): Long =
        synchronized(lock) {
            if (shown && version != seen) {
                bitmap.setPixels(pixels, 0, width, 0, 0, width, height)
            }
            version
        }
}
