package android.hardware.display;
import android.os.Handler;
public final class DisplayManager {
    public interface DisplayListener {
        void onDisplayAdded(int displayId);
        void onDisplayRemoved(int displayId);
        void onDisplayChanged(int displayId);
    }
    public void registerDisplayListener(DisplayListener listener, Handler handler) { throw new RuntimeException("stub"); }
    public void unregisterDisplayListener(DisplayListener listener) { throw new RuntimeException("stub"); }
}
