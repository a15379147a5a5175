package android.util;
public final class Rational extends Number {
    public Rational(int numerator, int denominator) { throw new RuntimeException("stub"); }
    @Override public int intValue() { throw new RuntimeException("stub"); }
    @Override public long longValue() { throw new RuntimeException("stub"); }
    @Override public float floatValue() { throw new RuntimeException("stub"); }
    @Override public double doubleValue() { throw new RuntimeException("stub"); }
}
