package android.graphics;
public class Matrix {
    public Matrix() { throw new RuntimeException("stub"); }
}
