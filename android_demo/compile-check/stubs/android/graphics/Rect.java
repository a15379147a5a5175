package android.graphics;
public final class Rect {
    public int left;
    public int top;
    public int right;
    public int bottom;
    public Rect() { throw new RuntimeException("stub"); }
    public final int width() { throw new RuntimeException("stub"); }
    public final int height() { throw new RuntimeException("stub"); }
}
