package android.view;
public final class Display {
    public int getDisplayId() { throw new RuntimeException("stub"); }
    public int getRotation() { throw new RuntimeException("stub"); }
}
