package io.mobileseg.demo

import android.Manifest
import android.content.pm.PackageManager
import android.os.Bundle
import android.util.Log
import android.util.Size
import android.view.View
import android.widget.Button
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.appcompat.widget.SwitchCompat
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.UseCase
import androidx.camera.core.resolutionselector.AspectRatioStrategy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.core.view.ViewCompat
import androidx.core.view.WindowCompat
import androidx.core.view.WindowInsetsCompat
import io.mobileseg.core.Contract
import io.mobileseg.core.FrameConverter
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicReference
import kotlin.math.abs
import kotlin.math.max
import kotlin.math.min

/**
 * Live video object segmentation: the camera preview, a box the user drags around an object, and
 * the exported student's mask drawn over the preview frame after frame.
 *
 * Threads: the UI thread only handles views and hands requests over (a box, a reset, a backend
 * switch); one background thread ([worker]) loads the model, runs the camera analyzer and owns
 * the interpreter and the tracker ([TrackingLoop]). Any problem (no permission, no model, a
 * contract the app cannot drive, a camera error) is a message in the status line, not a crash.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var preview: PreviewView
    private lateinit var overlay: OverlayView
    private lateinit var status: TextView
    private lateinit var gpuSwitch: SwitchCompat

    private val worker: ExecutorService = Executors.newSingleThreadExecutor { Thread(it, "mobileseg-analysis") }
    private val pendingBox = AtomicReference<FloatArray?>(null)
    private val resetRequested = AtomicBoolean(false)

    // Worker thread only.
    private var model: ModelFiles? = null
    private var loop: TrackingLoop? = null

    // UI thread only.
    private var contract: Contract? = null
    private var modelName = ""
    private var masks: MaskFrame? = null
    private var backend = Segmenter.CPU
    private var tracking = false
    private var cameraAllowed = false
    private var cameraDenied = false
    private var modelSettled = false
    private var cameraRequested = false
    private var analysis: ImageAnalysis? = null
    private var ignoreSwitch = false

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) {
            cameraAllowed = true
            startCameraWhenReady()
        } else {
            cameraDenied = true
            status.text = getString(R.string.camera_denied)
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        WindowCompat.setDecorFitsSystemWindows(window, false) // edge to edge on every Android version, as on 15+
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        overlay = findViewById(R.id.overlay)
        status = findViewById(R.id.status)
        gpuSwitch = findViewById(R.id.gpu)
        val reset: Button = findViewById(R.id.reset)
        preview.scaleType = PreviewView.ScaleType.FILL_CENTER
        keepClearOfSystemBars()

        overlay.onBox = { ax, ay, bx, by -> boxDrawn(ax, ay, bx, by) }
        reset.setOnClickListener { resetTracking() }
        gpuSwitch.setOnCheckedChangeListener { _, checked -> if (!ignoreSwitch) switchBackend(checked) }

        status.text = getString(R.string.loading)
        val wantGpu = savedInstanceState?.getBoolean(KEY_GPU) ?: false
        worker.execute { loadModel(wantGpu) }

        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            cameraAllowed = true
        } else {
            askCamera.launch(Manifest.permission.CAMERA)
        }
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        outState.putBoolean(KEY_GPU, gpuSwitch.isChecked)
    }

    override fun onDestroy() {
        analysis?.clearAnalyzer()
        worker.execute {
            loop?.close()
            loop = null
            model = null
        }
        worker.shutdown()
        super.onDestroy()
    }

    /** The preview fills the screen behind the status and navigation bars: pad the controls clear of them. */
    private fun keepClearOfSystemBars() {
        val top = findViewById<TextView>(R.id.status)
        val bottom = findViewById<View>(R.id.controls)
        val pad = (12 * resources.displayMetrics.density).toInt()
        ViewCompat.setOnApplyWindowInsetsListener(findViewById<View>(R.id.root)) { _, insets ->
            val bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout())
            top.setPadding(pad + bars.left, pad + bars.top, pad + bars.right, pad)
            bottom.setPadding(pad + bars.left, pad, pad + bars.right, pad + bars.bottom)
            insets
        }
    }

    /** Posts [action] to the UI thread unless the activity is gone by then. */
    private fun onUi(action: () -> Unit) {
        runOnUiThread {
            if (!isDestroyed) action()
        }
    }

    // ---- worker thread ------------------------------------------------------------------------

    private fun loadModel(wantGpu: Boolean) {
        try {
            val files = ModelLoader.load(assets)
            val gpuSupported = Segmenter.gpuSupported()
            val opened = Segmenter.open(files, wantGpu && gpuSupported)
            val frames = MaskFrame(files.contract.width(), files.contract.height())
            model = files
            loop = TrackingLoop(opened.segmenter, pendingBox, resetRequested, frames, LoopToUi())
            val running = opened.segmenter.backend
            onUi {
                contract = files.contract
                modelName = files.modelName
                masks = frames
                backend = running
                overlay.showMasks(frames)
                setSwitch(running == Segmenter.GPU, gpuSupported)
                showIdle()
                opened.fallback?.let { status.append("\n" + getString(R.string.gpu_failed, it)) }
                modelSettled = true
                startCameraWhenReady()
            }
        } catch (e: ModelException) {
            fail(e.message ?: e.javaClass.simpleName)
        } catch (e: Throwable) { // e.g. LiteRT's native library missing for this CPU: an Error, not an Exception
            Log.e(TAG, "model load failed", e)
            fail(getString(R.string.load_failed, e.message ?: e.javaClass.simpleName))
        }
    }

    private fun fail(message: String) {
        onUi {
            status.text = if (cameraDenied) message + "\n" + getString(R.string.camera_denied) else message
            modelSettled = true
            startCameraWhenReady() // the preview still runs, so the camera side can be checked
        }
    }

    private fun analyze(image: ImageProxy) {
        val current = loop
        if (current == null) image.close() else current.analyze(image)
    }

    /** Recreates the interpreter on the other backend; the tracker keeps its memory. */
    private fun switchToBackend(useGpu: Boolean) {
        val files = model ?: return
        val current = loop ?: return
        try {
            val opened = Segmenter.open(files, useGpu)
            current.switchTo(opened.segmenter)
            val running = opened.segmenter.backend
            onUi {
                backend = running
                if (opened.fallback != null) {
                    setSwitch(false, gpuSwitch.isEnabled)
                    status.text = getString(R.string.gpu_failed, opened.fallback)
                } else if (!tracking) {
                    showIdle()
                }
            }
        } catch (e: Throwable) {
            Log.e(TAG, "backend switch failed", e)
            onUi { status.text = getString(R.string.load_failed, e.message ?: e.javaClass.simpleName) }
        }
    }

    /** The loop's messages, posted to the UI thread. */
    private inner class LoopToUi : TrackingLoop.Ui {
        override fun geometry(converter: FrameConverter) {
            onUi { this@MainActivity.contract?.let { overlay.setGeometry(converter, it.height(), it.width()) } }
        }

        override fun overlayChanged() {
            overlay.postInvalidate()
        }

        override fun tracking(started: Boolean) {
            onUi {
                this@MainActivity.tracking = started
                if (started) {
                    overlay.hint = null
                } else {
                    showIdle()
                }
            }
        }

        override fun status(text: String) {
            onUi { this@MainActivity.status.text = text }
        }
    }

    // ---- UI thread ----------------------------------------------------------------------------

    private fun showIdle() {
        val input = contract ?: return
        if (cameraDenied) {
            status.text = getString(R.string.camera_denied)
            return
        }
        status.text = getString(R.string.ready, modelName, input.height(), input.width(), backend)
        overlay.hint = getString(R.string.hint_drag)
    }

    private fun setSwitch(checked: Boolean, enabled: Boolean) {
        ignoreSwitch = true
        gpuSwitch.isChecked = checked
        gpuSwitch.isEnabled = enabled
        ignoreSwitch = false
    }

    private fun switchBackend(useGpu: Boolean) {
        status.text = getString(R.string.loading)
        worker.execute { switchToBackend(useGpu) }
    }

    private fun resetTracking() {
        if (contract == null) return // no model: nothing to reset
        pendingBox.set(null)
        resetRequested.set(true) // the worker forgets the object before its next frame
        tracking = false
        masks?.clear()
        overlay.invalidate()
        showIdle()
    }

    private fun boxDrawn(ax: Float, ay: Float, bx: Float, by: Float) {
        val mapping = overlay.mapping ?: return
        if (contract == null) return
        val minimum = MIN_BOX_DP * resources.displayMetrics.density
        if (abs(bx - ax) < minimum || abs(by - ay) < minimum) {
            status.text = getString(R.string.box_too_small)
            return
        }
        val box = mapping.viewBoxToModel(ax, ay, bx, by)
        if (box[2] - box[0] < 1f || box[3] - box[1] < 1f) {
            status.text = getString(R.string.box_outside)
            return
        }
        pendingBox.set(box) // the worker starts tracking on the next frame
        overlay.hint = null
    }

    private fun startCameraWhenReady() {
        if (!cameraAllowed || !modelSettled || cameraRequested || isDestroyed) return
        cameraRequested = true
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            if (isDestroyed) return@addListener
            try {
                bindCamera(future.get())
            } catch (e: Exception) {
                Log.e(TAG, "camera failed", e)
                status.text = getString(R.string.camera_failed, e.message ?: e.javaClass.simpleName)
            }
        }, ContextCompat.getMainExecutor(this))
    }

    /**
     * Preview and analysis with the same aspect ratio, so that both see the same field of view
     * (the overlay mapping assumes it): 16:9 or 4:3, whichever is closer to the model's input.
     */
    private fun bindCamera(provider: ProcessCameraProvider) {
        val input = contract
        val wide = input == null || aspect(input.height(), input.width()) > WIDE_ABOVE
        val ratio = if (wide) AspectRatioStrategy.RATIO_16_9_FALLBACK_AUTO_STRATEGY else AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY
        val previewCase = Preview.Builder()
            .setResolutionSelector(ResolutionSelector.Builder().setAspectRatioStrategy(ratio).build())
            .build()
        previewCase.setSurfaceProvider(preview.surfaceProvider)
        val useCases = mutableListOf<UseCase>(previewCase)
        if (input != null) {
            // Analysis images a little larger than the model's input: enough pixels for the
            // resize, and a cheap YUV -> RGBA conversion in CameraX.
            val longSide = max(ANALYSIS_LONG_SIDE, max(input.height(), input.width()))
            val bound = if (wide) Size(longSide, longSide * 9 / 16) else Size(longSide, longSide * 3 / 4)
            val selector = ResolutionSelector.Builder()
                .setAspectRatioStrategy(ratio)
                .setResolutionStrategy(ResolutionStrategy(bound, ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER))
                .build()
            val analysisCase = ImageAnalysis.Builder()
                .setResolutionSelector(selector)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .build()
            analysisCase.setAnalyzer(worker) { image -> analyze(image) }
            analysis = analysisCase
            useCases.add(analysisCase)
        }
        provider.unbindAll()
        val camera = provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, *useCases.toTypedArray())
        camera.cameraInfo.cameraState.observe(this) { state ->
            state.error?.let { status.text = getString(R.string.camera_error, it.code) }
        }
    }

    private fun aspect(height: Int, width: Int): Float = max(height, width).toFloat() / min(height, width)

    private companion object {
        const val TAG = "mobileseg"
        const val KEY_GPU = "gpu"
        const val MIN_BOX_DP = 16f
        const val ANALYSIS_LONG_SIDE = 1280

        /** Long/short side ratios above this are closer to 16:9 (1.78) than to 4:3 (1.33). */
        const val WIDE_ABOVE = 1.555f
    }
}
