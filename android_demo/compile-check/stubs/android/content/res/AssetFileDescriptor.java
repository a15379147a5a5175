package android.content.res;
import java.io.Closeable;
import java.io.FileInputStream;
import java.io.IOException;
public class AssetFileDescriptor implements Closeable {
    public long getStartOffset() { throw new RuntimeException("stub"); }
    public long getDeclaredLength() { throw new RuntimeException("stub"); }
    public FileInputStream createInputStream() throws IOException { throw new RuntimeException("stub"); }
    @Override public void close() throws IOException { throw new RuntimeException("stub"); }
}
