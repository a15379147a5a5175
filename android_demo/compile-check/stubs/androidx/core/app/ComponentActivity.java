package androidx.core.app;
import android.app.Activity;
import androidx.annotation.NonNull;
import androidx.lifecycle.Lifecycle;
import androidx.lifecycle.LifecycleOwner;
public class ComponentActivity extends Activity implements LifecycleOwner {
    public ComponentActivity() { throw new RuntimeException("stub"); }
    @NonNull @Override public Lifecycle getLifecycle() { throw new RuntimeException("stub"); }
}
