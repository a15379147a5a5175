package io.mobileseg.demo

import android.content.res.AssetManager
import android.util.Log
import io.mobileseg.core.Contract
import io.mobileseg.core.ContractException
import io.mobileseg.core.GpuPlan
import io.mobileseg.core.ModelDigest
import io.mobileseg.core.TfliteGraph
import java.io.IOException
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/** A problem the user can fix (no model, a rejected contract, …): its message is shown as is. */
class ModelException(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * The app's model: its checked contract, the .tflite file memory-mapped from the APK, and what
 * the GPU delegate can take of its step graph (null when the file's graph could not be read).
 */
class ModelFiles(val contract: Contract, val buffer: MappedByteBuffer, val contractAsset: String, val gpuPlan: GpuPlan?) {
    val modelName: String get() = contract.modelFile()
}

/**
 * Finds the one model in the APK's `assets/mobileseg/` folder, where
 * `mobileseg export --target tflite --android android_demo` copies `student.tflite` and its
 * contract `student.tflite.json`, reads the contract with the core module's rules, maps the
 * model file it names and checks the mapped bytes against the contract's sha256. Called on the
 * background thread.
 */
object ModelLoader {
    const val FOLDER = "mobileseg"
    private const val SUFFIX = ".tflite.json"
    private const val EXPORT = "run `mobileseg export --checkpoint RUN/best.pt --target tflite --android android_demo` and rebuild"

    fun load(assets: AssetManager): ModelFiles {
        val names: Array<String> = try {
            assets.list(FOLDER) ?: emptyArray()
        } catch (e: IOException) {
            emptyArray()
        }
        val contracts = names.filter { it.endsWith(SUFFIX) }.sorted()
        if (contracts.isEmpty()) {
            throw ModelException("No model in the app: $EXPORT.")
        }
        if (contracts.size > 1) {
            throw ModelException(
                "Several models in assets/$FOLDER: ${contracts.joinToString()}. The app runs one: " +
                    "keep one .tflite with its .tflite.json there (`mobileseg export --android` removes the others) and rebuild."
            )
        }
        val source = "assets/$FOLDER/${contracts[0]}"
        val text = try {
            assets.open("$FOLDER/${contracts[0]}").use { it.readBytes().toString(Charsets.UTF_8) }
        } catch (e: IOException) {
            throw ModelException("Cannot read $source (${e.message}); $EXPORT.", e)
        }
        val contract = try {
            Contract.parse(text, source)
        } catch (e: ContractException) {
            throw ModelException(e.message ?: "contract $source was rejected; $EXPORT.", e)
        }
        val model = contract.modelFile()
        if (model !in names) {
            throw ModelException(
                "$source names the model file $model, which is not in assets/$FOLDER (it holds ${names.joinToString()}); $EXPORT."
            )
        }
        val buffer = try {
            map(assets, "$FOLDER/$model")
        } catch (e: IOException) {
            throw ModelException(
                "Cannot memory-map assets/$FOLDER/$model (${e.message}). The APK must store .tflite files uncompressed " +
                    "(androidResources { noCompress += \"tflite\" } in app/build.gradle.kts).",
                e,
            )
        }
        // The Segmenter's signature check (Contract.checkModel) compares tensor names and shapes only: another
        // export of the same network (other weights) passes it and would silently compute other masks. The digest
        // tells them apart; it is taken over the very mapping the interpreter gets (ModelDigest leaves its position).
        try {
            ModelDigest.check(contract, buffer)
        } catch (e: ContractException) {
            throw ModelException(e.message ?: "assets/$FOLDER/$model is not the file $source was exported with; $EXPORT.", e)
        }
        return ModelFiles(contract, buffer, source, gpuPlan(contract, buffer))
    }

    /** The step graph's GPU plan, read from the mapped file (tables only, no weights); null if it cannot be read. */
    private fun gpuPlan(contract: Contract, buffer: MappedByteBuffer): GpuPlan? =
        try {
            GpuPlan.of(TfliteGraph.read(buffer), contract.steps())
        } catch (e: IllegalArgumentException) {
            Log.w("mobileseg", "cannot read the model's graph for the GPU plan", e)
            null
        }

    /** The asset's bytes inside the APK, mapped read-only (no copy on the Java heap). */
    private fun map(assets: AssetManager, path: String): MappedByteBuffer =
        assets.openFd(path).use { fd ->
            fd.createInputStream().use { stream ->
                stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }
}
