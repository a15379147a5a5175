package androidx.camera.view;
import android.content.Context;
import android.util.AttributeSet;
import android.widget.FrameLayout;
import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import androidx.camera.core.Preview;
import androidx.camera.core.ViewPort;
public final class PreviewView extends FrameLayout {
    public PreviewView(@NonNull Context context) { super(context); throw new RuntimeException("stub"); }
    public PreviewView(@NonNull Context context, @Nullable AttributeSet attrs) { super(context); throw new RuntimeException("stub"); }
    public enum ScaleType { FILL_START, FILL_CENTER, FILL_END, FIT_START, FIT_CENTER, FIT_END }
    @NonNull public ScaleType getScaleType() { throw new RuntimeException("stub"); }
    public void setScaleType(@NonNull ScaleType scaleType) { throw new RuntimeException("stub"); }
    @NonNull public Preview.SurfaceProvider getSurfaceProvider() { throw new RuntimeException("stub"); }
    @Nullable public ViewPort getViewPort() { throw new RuntimeException("stub"); }
    @Nullable public ViewPort getViewPort(int targetRotation) { throw new RuntimeException("stub"); }
}
