package androidx.activity;
import android.os.Bundle;
import androidx.activity.result.ActivityResultCallback;
import androidx.activity.result.ActivityResultLauncher;
import androidx.activity.result.contract.ActivityResultContract;
import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import androidx.lifecycle.Lifecycle;
public class ComponentActivity extends androidx.core.app.ComponentActivity {
    public ComponentActivity() { throw new RuntimeException("stub"); }
    @Override protected void onCreate(@Nullable Bundle savedInstanceState) { throw new RuntimeException("stub"); }
    @Override protected void onSaveInstanceState(@NonNull Bundle outState) { throw new RuntimeException("stub"); }
    @NonNull @Override public Lifecycle getLifecycle() { throw new RuntimeException("stub"); }
    @NonNull public final <I, O> ActivityResultLauncher<I> registerForActivityResult(@NonNull ActivityResultContract<I, O> contract,
            @NonNull ActivityResultCallback<O> callback) { throw new RuntimeException("stub"); }
}
