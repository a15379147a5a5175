package androidx.camera.core;
import android.graphics.Rect;
import androidx.annotation.NonNull;
import java.nio.ByteBuffer;
public interface ImageProxy extends AutoCloseable {
    @Override void close();
    @NonNull Rect getCropRect();
    int getFormat();
    int getHeight();
    int getWidth();
    @NonNull ImageInfo getImageInfo();
    @NonNull PlaneProxy[] getPlanes();
    interface PlaneProxy {
        @NonNull ByteBuffer getBuffer();
        int getPixelStride();
        int getRowStride();
    }
}
