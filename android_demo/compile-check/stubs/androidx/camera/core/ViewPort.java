package androidx.camera.core;
public final class ViewPort {
    public static final int FILL_START = 0;
    public static final int FILL_CENTER = 1;
    public static final int FILL_END = 2;
    public static final int FIT = 3;
    private ViewPort() { throw new RuntimeException("stub"); }
    public int getRotation() { throw new RuntimeException("stub"); }
    public int getScaleType() { throw new RuntimeException("stub"); }
}
