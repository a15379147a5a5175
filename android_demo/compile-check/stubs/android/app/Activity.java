package android.app;
import android.os.Bundle;
import android.view.ContextThemeWrapper;
import android.view.View;
import android.view.Window;
public class Activity extends ContextThemeWrapper {
    public Activity() { throw new RuntimeException("stub"); }
    protected void onCreate(Bundle savedInstanceState) { throw new RuntimeException("stub"); }
    protected void onStart() { throw new RuntimeException("stub"); }
    protected void onStop() { throw new RuntimeException("stub"); }
    protected void onDestroy() { throw new RuntimeException("stub"); }
    protected void onSaveInstanceState(Bundle outState) { throw new RuntimeException("stub"); }
    public void setContentView(int layoutResID) { throw new RuntimeException("stub"); }
    public <T extends View> T findViewById(int id) { throw new RuntimeException("stub"); }
    public Window getWindow() { throw new RuntimeException("stub"); }
    public final void runOnUiThread(Runnable action) { throw new RuntimeException("stub"); }
    public boolean isDestroyed() { throw new RuntimeException("stub"); }
}
