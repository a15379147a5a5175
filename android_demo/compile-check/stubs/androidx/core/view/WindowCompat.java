package androidx.core.view;
import android.view.Window;
import androidx.annotation.NonNull;
public final class WindowCompat {
    private WindowCompat() { throw new RuntimeException("stub"); }
    public static void setDecorFitsSystemWindows(@NonNull Window window, boolean decorFitsSystemWindows) { throw new RuntimeException("stub"); }
}
