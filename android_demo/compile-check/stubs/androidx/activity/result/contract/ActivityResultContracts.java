package androidx.activity.result.contract;
public final class ActivityResultContracts {
    private ActivityResultContracts() { throw new RuntimeException("stub"); }
    public static final class RequestPermission extends ActivityResultContract<String, Boolean> {
        public RequestPermission() { throw new RuntimeException("stub"); }
    }
}
