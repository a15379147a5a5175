package androidx.appcompat.app;
import android.view.View;
import androidx.fragment.app.FragmentActivity;
public class AppCompatActivity extends FragmentActivity {
    public AppCompatActivity() { throw new RuntimeException("stub"); }
    @Override public void setContentView(int layoutResID) { throw new RuntimeException("stub"); }
    @Override public <T extends View> T findViewById(int id) { throw new RuntimeException("stub"); }
    @Override protected void onStart() { throw new RuntimeException("stub"); }
    @Override protected void onStop() { throw new RuntimeException("stub"); }
    @Override protected void onDestroy() { throw new RuntimeException("stub"); }
}
