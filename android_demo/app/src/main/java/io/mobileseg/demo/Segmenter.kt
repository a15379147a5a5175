package io.mobileseg.demo

import android.util.Log
import io.mobileseg.core.BackendRunner
import io.mobileseg.core.Contract
import io.mobileseg.core.ContractException
import io.mobileseg.core.ModelSignatures
import java.nio.ByteBuffer
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate

/**
 * One LiteRT interpreter over the exported student, on the CPU (XNNPACK) or the GPU delegate.
 *
 * It is a backend of the core module's [BackendRunner] (the tracker calls `init` and `step`
 * through the file's signatures, by the contract's tensor names; a GPU failure while running
 * falls back to XNNPACK there) and its [ModelSignatures] (the file's own signatures and shapes,
 * which [Contract.checkModel] compares with the contract).
 *
 * On the GPU, [name] says how much of the step graph the delegate can take at most (the model's
 * [io.mobileseg.core.GpuPlan]): the students' memory is 5-D, which the delegate leaves on the CPU.
 *
 * Threading: create, run and close it on one thread (the app's analysis thread). The GPU delegate
 * requires this: it binds to the thread that created it.
 */
class Segmenter private constructor(
    val contract: Contract,
    private val interpreter: Interpreter,
    private val gpu: GpuDelegate?,
    private val label: String,
) : BackendRunner.Backend, ModelSignatures {

    /** What runs the model, as the status line says it. */
    val backend: String get() = if (gpu != null) GPU else CPU

    override fun name(): String = label

    override fun accelerated(): Boolean = gpu != null

    override fun run(entry: String, inputs: Map<String, ByteBuffer>, outputs: Map<String, ByteBuffer>) {
        // Direct native-order float32 buffers, positioned at 0 by the tracker: LiteRT reads the
        // inputs in place and copies each output into its buffer.
        @Suppress("USELESS_CAST")
        interpreter.runSignature(inputs as Map<String, Any>, outputs as Map<String, Any>, entry)
    }

    override fun signatures(): Set<String> = interpreter.signatureKeys.toSet()

    override fun inputs(signature: String): Map<String, IntArray> =
        interpreter.getSignatureInputs(signature).asList()
            .associateWith { interpreter.getInputTensorFromSignature(it, signature).shape() }

    override fun outputs(signature: String): Map<String, IntArray> =
        interpreter.getSignatureOutputs(signature).asList()
            .associateWith { interpreter.getOutputTensorFromSignature(it, signature).shape() }

    override fun close() {
        interpreter.close()
        gpu?.close() // after the interpreter that uses it
    }

    /** A segmenter, and why it is not on the backend that was asked for (null when it is). */
    class Opened(val segmenter: Segmenter, val fallback: String?)

    companion object {
        const val CPU = "XNNPACK"
        const val GPU = "GPU"
        private const val THREADS = 4
        private const val TAG = "mobileseg"

        /** Whether LiteRT lists this device's GPU as able to run its GPU delegate. */
        fun gpuSupported(): Boolean =
            try {
                CompatibilityList().use { it.isDelegateSupportedOnThisDevice }
            } catch (e: Throwable) { // a missing native library is an Error, not an Exception
                Log.w(TAG, "GPU compatibility check failed", e)
                false
            }

        /**
         * An interpreter over [model] on the GPU when [useGpu] (falling back to XNNPACK, with the
         * reason, when the delegate cannot take the model), checked against the contract.
         * Throws [ModelException] when the file cannot be loaded or does not match its contract.
         */
        fun open(model: ModelFiles, useGpu: Boolean): Opened {
            if (useGpu) {
                try {
                    return Opened(create(model, true), null)
                } catch (e: ModelException) {
                    throw e // the file and its contract disagree: no backend can fix that
                } catch (e: Throwable) {
                    Log.w(TAG, "GPU delegate failed", e)
                    return Opened(create(model, false), e.message ?: e.javaClass.simpleName)
                }
            }
            return Opened(create(model, false), null)
        }

        /**
         * The GPU delegate with the options LiteRT's compatibility list picks for this device, but
         * without precision loss: the default lets it compute in fp16, and the memory that goes
         * round the loop every frame would drift from what the export's parity check measured.
         */
        private fun gpuDelegate(): GpuDelegate {
            val options = CompatibilityList().use { it.bestOptionsForThisDevice }
            return GpuDelegate(options.setPrecisionLossAllowed(false))
        }

        private fun create(model: ModelFiles, useGpu: Boolean): Segmenter {
            val options = Interpreter.Options().setNumThreads(THREADS)
            val delegate = if (useGpu) gpuDelegate() else null
            if (delegate != null) {
                options.addDelegate(delegate)
            } else {
                options.setUseXNNPACK(true)
            }
            val interpreter = try {
                Interpreter(model.buffer, options)
            } catch (e: Exception) {
                delegate?.close()
                if (useGpu) throw e
                throw ModelException("LiteRT cannot load ${model.modelName}: ${e.message ?: e.javaClass.simpleName}", e)
            }
            val label = if (delegate == null) CPU else model.gpuPlan?.label(GPU) ?: GPU
            val segmenter = Segmenter(model.contract, interpreter, delegate, label)
            try {
                model.contract.checkModel(segmenter)
            } catch (e: ContractException) {
                segmenter.close()
                throw ModelException(e.message ?: "${model.modelName} does not match ${model.contractAsset}", e)
            } catch (e: Exception) {
                segmenter.close()
                throw ModelException("Cannot read the signatures of ${model.modelName}: ${e.message ?: e.javaClass.simpleName}", e)
            }
            return segmenter
        }
    }
}
