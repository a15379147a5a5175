package androidx.camera.core;
import androidx.annotation.Nullable;
public abstract class CameraState {
    public CameraState() { throw new RuntimeException("stub"); }
    @Nullable public abstract StateError getError();
    public abstract static class StateError {
        public StateError() { throw new RuntimeException("stub"); }
        public abstract int getCode();
    }
}
