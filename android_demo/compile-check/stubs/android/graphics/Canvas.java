package android.graphics;
public class Canvas {
    public Canvas() { throw new RuntimeException("stub"); }
    public void drawBitmap(Bitmap bitmap, Rect src, Rect dst, Paint paint) { throw new RuntimeException("stub"); }
    public void drawBitmap(Bitmap bitmap, Rect src, RectF dst, Paint paint) { throw new RuntimeException("stub"); }
    public void drawRect(RectF rect, Paint paint) { throw new RuntimeException("stub"); }
    public void drawText(String text, float x, float y, Paint paint) { throw new RuntimeException("stub"); }
}
