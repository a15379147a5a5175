package io.mobileseg.demo

import android.Manifest
import android.content.pm.PackageManager
import android.hardware.display.DisplayManager
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
import androidx.camera.core.UseCaseGroup
import androidx.camera.core.resolutionselector.AspectRatioStrategy
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.core.view.ViewCompat
import androidx.core.view.WindowCompat
import androidx.core.view.WindowInsetsCompat
import io.mobileseg.core.CameraAccess
import io.mobileseg.core.Contract
import io.mobileseg.core.FrameConverter
import io.mobileseg.core.GpuPlan
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
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
 *
 * Camera: preview and analysis are bound as one [UseCaseGroup] with the preview's ViewPort, so
 * each analysis image carries the crop rectangle of exactly what the preview shows, and the
 * frame conversion and the overlay use it. The display rotation is followed while the activity
 * runs (a turn by 180 degrees does not recreate it), so analysis images stay upright.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var preview: PreviewView
    private lateinit var overlay: OverlayView
    private lateinit var status: TextView
    private lateinit var gpuSwitch: SwitchCompat
    private lateinit var access: CameraAccess

    private val worker: ExecutorService = Executors.newSingleThreadExecutor { Thread(it, "mobileseg-analysis") }
    private val pendingBox = AtomicReference<PendingBox?>(null)

    // Worker thread only.
    private var model: ModelFiles? = null
    private var loop: TrackingLoop? = null

    // UI thread only.
    private var contract: Contract? = null
    private var gpuPlan: GpuPlan? = null
    private var modelName = ""
    private var modelError: String? = null
    private var masks: MaskFrame? = null
    private var backend = Segmenter.CPU
    private var backendLabel = Segmenter.CPU
    private var tracking = false
    private var cameraAllowed = false
    private var modelSettled = false
    private var cameraRequested = false
    private var previewCase: Preview? = null
    private var analysis: ImageAnalysis? = null
    private var ignoreSwitch = false

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        val wasDenied = access.denied()
        cameraAccess(wasDenied, access.answered(granted || hasCameraPermission()))
    }

    /** A turn by 180 degrees changes the display rotation without recreating the activity: the use cases must follow it. */
    private val displayListener = object : DisplayManager.DisplayListener {
        override fun onDisplayAdded(displayId: Int) = Unit

        override fun onDisplayRemoved(displayId: Int) = Unit

        override fun onDisplayChanged(displayId: Int) {
            val display = preview.display ?: return
            if (display.displayId == displayId) {
                followDisplayRotation()
            }
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
        access = CameraAccess.restore(savedInstanceState?.getInt(KEY_ACCESS) ?: 0)

        overlay.onBox = { ax, ay, bx, by -> boxDrawn(ax, ay, bx, by) }
        reset.setOnClickListener { resetTracking() }
        gpuSwitch.setOnCheckedChangeListener { _, checked -> if (!ignoreSwitch) switchBackend(checked) }

        status.text = getString(R.string.loading)
        val wantGpu = savedInstanceState?.getBoolean(KEY_GPU) ?: false
        worker.execute { loadModel(wantGpu) }
    }

    /**
     * Every start, not only the first: after a denial the user may allow the camera in Settings
     * and come back to this same activity, which is started again, not created.
     */
    override fun onStart() {
        super.onStart() // delivers a pending permission answer first
        getSystemService(DisplayManager::class.java)?.registerDisplayListener(displayListener, null)
        followDisplayRotation()
        val wasDenied = access.denied()
        cameraAccess(wasDenied, access.onStart(hasCameraPermission()))
    }

    override fun onStop() {
        getSystemService(DisplayManager::class.java)?.unregisterDisplayListener(displayListener)
        super.onStop()
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        outState.putBoolean(KEY_GPU, gpuSwitch.isChecked)
        outState.putInt(KEY_ACCESS, access.saved())
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

    private fun hasCameraPermission(): Boolean =
        ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED

    /** Carries out what [CameraAccess] decided; [wasDenied]: the status line said so until now. */
    private fun cameraAccess(wasDenied: Boolean, action: CameraAccess.Action) {
        when (action) {
            CameraAccess.Action.ASK -> askCamera.launch(Manifest.permission.CAMERA)
            CameraAccess.Action.START -> {
                cameraAllowed = true
                if (wasDenied) refreshStatus() // allowed in Settings since: the denial message goes
                startCameraWhenReady()
            }
            CameraAccess.Action.DENIED -> refreshStatus()
            CameraAccess.Action.NONE -> Unit
        }
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
            loop = TrackingLoop(opened.segmenter, { Segmenter.open(files, false).segmenter }, pendingBox, frames, LoopToUi())
            val running = opened.segmenter.backend
            val label = opened.segmenter.name()
            onUi {
                contract = files.contract
                gpuPlan = files.gpuPlan
                modelName = files.modelName
                masks = frames
                backend = running
                backendLabel = label
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
            modelError = message
            refreshStatus()
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
            val label = opened.segmenter.name()
            onUi {
                backend = running
                backendLabel = label
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

        override fun fellBack(reason: String) {
            onUi {
                backend = Segmenter.CPU
                backendLabel = Segmenter.CPU
                setSwitch(false, gpuSwitch.isEnabled)
                status.text = getString(R.string.gpu_failed_running, reason)
            }
        }
    }

    // ---- UI thread ----------------------------------------------------------------------------

    /** The status line when nothing is being tracked: the model, or what is wrong. */
    private fun refreshStatus() {
        val error = modelError
        when {
            error != null -> status.text = if (access.denied()) error + "\n" + getString(R.string.camera_denied) else error
            access.denied() -> status.text = getString(R.string.camera_denied)
            contract != null -> showIdle()
        }
    }

    private fun showIdle() {
        val input = contract ?: return
        if (access.denied()) {
            status.text = getString(R.string.camera_denied)
            return
        }
        status.text = getString(R.string.ready, modelName, input.height(), input.width(), backendLabel)
        val plan = gpuPlan
        if (backend == Segmenter.GPU && plan != null) {
            status.append("\n" + plan.explain())
        }
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
        val frames = masks ?: return // no model: nothing to reset
        pendingBox.set(null)
        frames.reset() // the worker forgets the object before its next frame; a frame in flight shows no mask
        tracking = false
        overlay.invalidate()
        showIdle()
    }

    private fun boxDrawn(ax: Float, ay: Float, bx: Float, by: Float) {
        val mapping = overlay.mapping ?: return
        val frames = masks ?: return
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
        pendingBox.set(PendingBox(box, frames.frames.epoch())) // the worker starts tracking on the next frame
        overlay.hint = null
    }

    /** The display's rotation as the use cases' target rotation: analysis images are turned upright for it. */
    private fun followDisplayRotation() {
        val rotation = preview.display?.rotation ?: return
        previewCase?.targetRotation = rotation
        analysis?.targetRotation = rotation
    }

    private fun startCameraWhenReady() {
        if (!cameraAllowed || !modelSettled || cameraRequested || isDestroyed) return
        cameraRequested = true
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            if (isDestroyed) return@addListener
            // after layout: the ViewPort needs the preview's size and display
            preview.post {
                if (isDestroyed) return@post
                try {
                    bindCamera(future.get())
                } catch (e: Exception) {
                    Log.e(TAG, "camera failed", e)
                    status.text = getString(R.string.camera_failed, e.message ?: e.javaClass.simpleName)
                }
            }
        }, ContextCompat.getMainExecutor(this))
    }

    /**
     * Preview and analysis with the same aspect ratio (16:9 or 4:3, whichever is closer to the
     * model's input), bound as one group with the preview's ViewPort: both then cover the same
     * field of view, and each analysis image's crop rectangle is what the preview shows.
     */
    private fun bindCamera(provider: ProcessCameraProvider) {
        val selector = CameraSelector.DEFAULT_BACK_CAMERA
        if (!provider.hasCamera(selector)) {
            status.text = getString(R.string.no_back_camera)
            return
        }
        val input = contract
        val wide = input == null || aspect(input.height(), input.width()) > WIDE_ABOVE
        val ratio = if (wide) AspectRatioStrategy.RATIO_16_9_FALLBACK_AUTO_STRATEGY else AspectRatioStrategy.RATIO_4_3_FALLBACK_AUTO_STRATEGY
        val rotation = preview.display?.rotation
        val previewBuilder = Preview.Builder()
            .setResolutionSelector(ResolutionSelector.Builder().setAspectRatioStrategy(ratio).build())
        rotation?.let { previewBuilder.setTargetRotation(it) }
        val previewUseCase = previewBuilder.build()
        previewUseCase.setSurfaceProvider(preview.surfaceProvider)
        previewCase = previewUseCase
        val group = UseCaseGroup.Builder().addUseCase(previewUseCase)
        val viewPort = preview.viewPort
        if (viewPort != null) {
            group.setViewPort(viewPort)
        } else {
            Log.w(TAG, "no ViewPort yet: analysis images are not cropped to the preview")
        }
        if (input != null) {
            // Analysis images a little larger than the model's input: enough pixels for the
            // resize, and a cheap YUV -> RGBA conversion in CameraX.
            val longSide = max(ANALYSIS_LONG_SIDE, max(input.height(), input.width()))
            val bound = if (wide) Size(longSide, longSide * 9 / 16) else Size(longSide, longSide * 3 / 4)
            val resolution = ResolutionSelector.Builder()
                .setAspectRatioStrategy(ratio)
                .setResolutionStrategy(ResolutionStrategy(bound, ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER))
                .build()
            val analysisBuilder = ImageAnalysis.Builder()
                .setResolutionSelector(resolution)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
            rotation?.let { analysisBuilder.setTargetRotation(it) }
            val analysisCase = analysisBuilder.build()
            analysisCase.setAnalyzer(worker) { image -> analyze(image) }
            analysis = analysisCase
            group.addUseCase(analysisCase)
        }
        provider.unbindAll()
        val camera = provider.bindToLifecycle(this, selector, group.build())
        camera.cameraInfo.cameraState.observe(this) { state ->
            state.error?.let { status.text = getString(R.string.camera_error, it.code) }
        }
    }

    private fun aspect(height: Int, width: Int): Float = max(height, width).toFloat() / min(height, width)

    private companion object {
        const val TAG = "mobileseg"
        const val KEY_GPU = "gpu"
        const val KEY_ACCESS = "camera_access"
        const val MIN_BOX_DP = 16f
        const val ANALYSIS_LONG_SIDE = 1280

        /** Long/short side ratios above this are closer to 16:9 (1.78) than to 4:3 (1.33). */
        const val WIDE_ABOVE = 1.555f
    }
}
