package androidx.core.view;
import androidx.annotation.NonNull;
import androidx.core.graphics.Insets;
public class WindowInsetsCompat {
    public static final class Type {
        private Type() { throw new RuntimeException("stub"); }
        public static int systemBars() { throw new RuntimeException("stub"); }
        public static int displayCutout() { throw new RuntimeException("stub"); }
    }
    @NonNull public Insets getInsets(int typeMask) { throw new RuntimeException("stub"); }
}
