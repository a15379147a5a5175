package io.mobileseg.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.graphics.RectF
import android.util.AttributeSet
import android.util.TypedValue
import android.view.MotionEvent
import android.view.View
import io.mobileseg.core.FrameConverter
import io.mobileseg.core.ViewMapping
import kotlin.math.max
import kotlin.math.min

/**
 * Drawn over the camera preview (same size and position): the mask overlay scaled onto the part
 * of the preview the model sees ([ViewMapping.modelRectInView], outlined), the box being dragged,
 * and a hint before tracking starts. A finished drag is handed to [onBox] in view pixels; the
 * activity maps it to model pixels with [mapping].
 */
class OverlayView(context: Context, attrs: AttributeSet?) : View(context, attrs) {
    /** UI thread, when a drag ends: its start and end points in view pixels. */
    var onBox: ((Float, Float, Float, Float) -> Unit)? = null

    /** Text in the middle of the model's field; null draws none. */
    var hint: String? = null
        set(value) {
            field = value
            invalidate()
        }

    /** Preview (view pixels) <-> model input (model pixels); null until the first camera frame and a laid-out view. */
    var mapping: ViewMapping? = null
        private set

    private var converter: FrameConverter? = null
    private var modelHeight = 0
    private var modelWidth = 0
    private var frames: MaskFrame? = null
    private var bitmap: Bitmap? = null
    private var shownVersion = -1L
    private val modelRect = RectF()
    private val dragRect = RectF()
    private var dragging = false
    private var startX = 0f
    private var startY = 0f

    private val maskPaint = Paint(Paint.FILTER_BITMAP_FLAG)
    private val fieldPaint = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        style = Paint.Style.STROKE
        strokeWidth = dp(1f)
        color = Color.argb(110, 255, 255, 255)
    }
    private val boxPaint = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        style = Paint.Style.STROKE
        strokeWidth = dp(2f)
        color = Color.rgb(0x33, 0xCC, 0xFF)
    }
    private val hintPaint = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Color.WHITE
        textAlign = Paint.Align.CENTER
        textSize = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_SP, 18f, resources.displayMetrics)
        setShadowLayer(dp(3f), 0f, 0f, Color.BLACK)
    }

    private fun dp(value: Float): Float = value * resources.displayMetrics.density

    /** UI thread: the overlays to draw from now on (null: none); allocates the one Bitmap they are copied into. */
    fun showMasks(source: MaskFrame?) {
        frames = source
        bitmap = source?.let { Bitmap.createBitmap(it.width, it.height, Bitmap.Config.ARGB_8888) }
        shownVersion = -1L
        invalidate()
    }

    /** UI thread: the camera frames' geometry changed (first frame, new size or rotation). */
    fun setGeometry(frameConverter: FrameConverter, inputHeight: Int, inputWidth: Int) {
        converter = frameConverter
        modelHeight = inputHeight
        modelWidth = inputWidth
        updateMapping()
    }

    override fun onSizeChanged(w: Int, h: Int, oldw: Int, oldh: Int) {
        super.onSizeChanged(w, h, oldw, oldh)
        updateMapping()
    }

    private fun updateMapping() {
        val frameConverter = converter
        val next = if (frameConverter != null && width > 0 && height > 0) {
            ViewMapping(frameConverter, modelHeight, modelWidth, width, height)
        } else {
            null
        }
        mapping = next
        if (next != null) {
            val rect = next.modelRectInView()
            modelRect.set(rect[0], rect[1], rect[2], rect[3])
        }
        invalidate()
    }

    override fun onTouchEvent(event: MotionEvent): Boolean {
        val listener = onBox
        if (listener == null || mapping == null) {
            return super.onTouchEvent(event)
        }
        when (event.actionMasked) {
            MotionEvent.ACTION_DOWN -> {
                startX = event.x
                startY = event.y
                dragging = true
                drag(event.x, event.y)
            }
            MotionEvent.ACTION_MOVE -> if (dragging) drag(event.x, event.y)
            MotionEvent.ACTION_UP -> if (dragging) {
                dragging = false
                invalidate()
                performClick()
                listener(startX, startY, event.x, event.y)
            }
            MotionEvent.ACTION_CANCEL -> {
                dragging = false
                invalidate()
            }
        }
        return true
    }

    // A drag is this view's click (accessibility services see it as one).
    override fun performClick(): Boolean = super.performClick()

    private fun drag(x: Float, y: Float) {
        dragRect.set(min(startX, x), min(startY, y), max(startX, x), max(startY, y))
        invalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        if (mapping == null) {
            return
        }
        val source = frames
        val target = bitmap
        if (source != null && target != null) {
            shownVersion = source.copyInto(target, shownVersion)
            if (source.visible()) {
                canvas.drawBitmap(target, null, modelRect, maskPaint)
            }
        }
        canvas.drawRect(modelRect, fieldPaint)
        if (dragging) {
            canvas.drawRect(dragRect, boxPaint)
        } else {
            hint?.let { canvas.drawText(it, modelRect.centerX(), modelRect.centerY(), hintPaint) }
        }
    }
}
