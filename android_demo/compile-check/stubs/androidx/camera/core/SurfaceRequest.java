package androidx.camera.core;
public final class SurfaceRequest {
    private SurfaceRequest() { throw new RuntimeException("stub"); }
}
