package androidx.core.view;
import android.view.View;
import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
public class ViewCompat {
    protected ViewCompat() { throw new RuntimeException("stub"); }
    public static void setOnApplyWindowInsetsListener(@NonNull View v, @Nullable OnApplyWindowInsetsListener listener) { throw new RuntimeException("stub"); }
}
