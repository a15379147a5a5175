package androidx.fragment.app;
import android.os.Bundle;
import androidx.activity.ComponentActivity;
import androidx.annotation.Nullable;
public class FragmentActivity extends ComponentActivity {
    public FragmentActivity() { throw new RuntimeException("stub"); }
    @Override protected void onCreate(@Nullable Bundle savedInstanceState) { throw new RuntimeException("stub"); }
    @Override protected void onStart() { throw new RuntimeException("stub"); }
    @Override protected void onStop() { throw new RuntimeException("stub"); }
    @Override protected void onDestroy() { throw new RuntimeException("stub"); }
}
