package android.graphics;
public class Paint {
    public static final int ANTI_ALIAS_FLAG = 1;
    public static final int FILTER_BITMAP_FLAG = 2;
    public enum Style { FILL, STROKE, FILL_AND_STROKE }
    public enum Align { LEFT, CENTER, RIGHT }
    public Paint() { throw new RuntimeException("stub"); }
    public Paint(int flags) { throw new RuntimeException("stub"); }
    public Style getStyle() { throw new RuntimeException("stub"); }
    public void setStyle(Style style) { throw new RuntimeException("stub"); }
    public float getStrokeWidth() { throw new RuntimeException("stub"); }
    public void setStrokeWidth(float width) { throw new RuntimeException("stub"); }
    public int getColor() { throw new RuntimeException("stub"); }
    public void setColor(int color) { throw new RuntimeException("stub"); }
    public Align getTextAlign() { throw new RuntimeException("stub"); }
    public void setTextAlign(Align align) { throw new RuntimeException("stub"); }
    public float getTextSize() { throw new RuntimeException("stub"); }
    public void setTextSize(float textSize) { throw new RuntimeException("stub"); }
    public void setShadowLayer(float radius, float dx, float dy, int shadowColor) { throw new RuntimeException("stub"); }
}
