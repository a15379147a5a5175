package androidx.activity.result.contract;
public abstract class ActivityResultContract<I, O> {
    public ActivityResultContract() { throw new RuntimeException("stub"); }
}
