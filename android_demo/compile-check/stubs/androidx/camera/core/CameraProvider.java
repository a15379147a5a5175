package androidx.camera.core;
import androidx.annotation.NonNull;
public interface CameraProvider {
    boolean hasCamera(@NonNull CameraSelector cameraSelector) throws CameraInfoUnavailableException;
}
