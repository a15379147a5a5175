package android.content;
import android.content.res.AssetManager;
import android.content.res.Resources;
public abstract class Context {
    public abstract AssetManager getAssets();
    public abstract Resources getResources();
    public final String getString(int resId) { throw new RuntimeException("stub"); }
    public final String getString(int resId, Object... formatArgs) { throw new RuntimeException("stub"); }
    public final <T> T getSystemService(Class<T> serviceClass) { throw new RuntimeException("stub"); }
}
