package android.os;
public class BaseBundle {
    BaseBundle() { throw new RuntimeException("stub"); }
    public int getInt(String key) { throw new RuntimeException("stub"); }
    public boolean getBoolean(String key) { throw new RuntimeException("stub"); }
    public void putInt(String key, int value) { throw new RuntimeException("stub"); }
    public void putBoolean(String key, boolean value) { throw new RuntimeException("stub"); }
}
