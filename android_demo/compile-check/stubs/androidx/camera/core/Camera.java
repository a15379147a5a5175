package androidx.camera.core;
import androidx.annotation.NonNull;
public interface Camera {
    @NonNull CameraInfo getCameraInfo();
}
