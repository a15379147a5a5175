package androidx.camera.core;
import androidx.annotation.NonNull;
import androidx.lifecycle.LiveData;
public interface CameraInfo {
    @NonNull LiveData<CameraState> getCameraState();
    int getSensorRotationDegrees();
}
