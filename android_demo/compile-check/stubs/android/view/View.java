package android.view;
import android.content.Context;
import android.content.res.Resources;
import android.graphics.Canvas;
import android.util.AttributeSet;
public class View {
    public interface OnClickListener {
        void onClick(View v);
    }
    public void setOnClickListener(OnClickListener l) { throw new RuntimeException("stub"); }
    public View(Context context) { throw new RuntimeException("stub"); }
    public View(Context context, AttributeSet attrs) { throw new RuntimeException("stub"); }
    public Resources getResources() { throw new RuntimeException("stub"); }
    public Display getDisplay() { throw new RuntimeException("stub"); }
    public final int getWidth() { throw new RuntimeException("stub"); }
    public final int getHeight() { throw new RuntimeException("stub"); }
    public void invalidate() { throw new RuntimeException("stub"); }
    public void postInvalidate() { throw new RuntimeException("stub"); }
    public boolean post(Runnable action) { throw new RuntimeException("stub"); }
    public void setPadding(int left, int top, int right, int bottom) { throw new RuntimeException("stub"); }
    public boolean isEnabled() { throw new RuntimeException("stub"); }
    public void setEnabled(boolean enabled) { throw new RuntimeException("stub"); }
    protected void onSizeChanged(int w, int h, int oldw, int oldh) { throw new RuntimeException("stub"); }
    protected void onDraw(Canvas canvas) { throw new RuntimeException("stub"); }
    public boolean onTouchEvent(MotionEvent event) { throw new RuntimeException("stub"); }
    public boolean performClick() { throw new RuntimeException("stub"); }
}
