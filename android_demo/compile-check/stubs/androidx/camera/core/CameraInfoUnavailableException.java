package androidx.camera.core;
public final class CameraInfoUnavailableException extends Exception {
    private CameraInfoUnavailableException() { throw new RuntimeException("stub"); }
}
