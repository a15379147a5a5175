package android.widget;
import android.content.Context;
import android.view.View;
public class TextView extends View {
    public TextView(Context context) { super(context); throw new RuntimeException("stub"); }
    public CharSequence getText() { throw new RuntimeException("stub"); }
    public final void setText(CharSequence text) { throw new RuntimeException("stub"); }
    public final void append(CharSequence text) { throw new RuntimeException("stub"); }
}
