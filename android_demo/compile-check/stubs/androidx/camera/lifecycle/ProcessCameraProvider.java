package androidx.camera.lifecycle;
import android.content.Context;
import androidx.annotation.NonNull;
import androidx.camera.core.Camera;
import androidx.camera.core.CameraInfoUnavailableException;
import androidx.camera.core.CameraProvider;
import androidx.camera.core.CameraSelector;
import androidx.camera.core.UseCase;
import androidx.camera.core.UseCaseGroup;
import androidx.lifecycle.LifecycleOwner;
import com.google.common.util.concurrent.ListenableFuture;
public final class ProcessCameraProvider implements CameraProvider {
    private ProcessCameraProvider() { throw new RuntimeException("stub"); }
    @NonNull public static ListenableFuture<ProcessCameraProvider> getInstance(@NonNull Context context) { throw new RuntimeException("stub"); }
    @NonNull public Camera bindToLifecycle(@NonNull LifecycleOwner lifecycleOwner, @NonNull CameraSelector cameraSelector, @NonNull UseCase... useCases) { throw new RuntimeException("stub"); }
    @NonNull public Camera bindToLifecycle(@NonNull LifecycleOwner lifecycleOwner, @NonNull CameraSelector cameraSelector, @NonNull UseCaseGroup useCaseGroup) { throw new RuntimeException("stub"); }
    @Override public boolean hasCamera(@NonNull CameraSelector cameraSelector) throws CameraInfoUnavailableException { throw new RuntimeException("stub"); }
    public void unbindAll() { throw new RuntimeException("stub"); }
}
