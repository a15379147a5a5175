package android.graphics;
public class Color {
    public static final int BLACK = 0xFF000000;
    public static final int WHITE = 0xFFFFFFFF;
    public static int argb(int alpha, int red, int green, int blue) { throw new RuntimeException("stub"); }
    public static int rgb(int red, int green, int blue) { throw new RuntimeException("stub"); }
}
