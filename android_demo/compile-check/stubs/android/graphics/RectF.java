package android.graphics;
public class RectF {
    public float left;
    public float top;
    public float right;
    public float bottom;
    public RectF() { throw new RuntimeException("stub"); }
    public void set(float left, float top, float right, float bottom) { throw new RuntimeException("stub"); }
    public final float centerX() { throw new RuntimeException("stub"); }
    public final float centerY() { throw new RuntimeException("stub"); }
}
