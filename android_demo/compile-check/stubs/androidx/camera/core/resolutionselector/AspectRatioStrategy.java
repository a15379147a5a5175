package androidx.camera.core.resolutionselector;
import androidx.annotation.NonNull;
public final class AspectRatioStrategy {
    public static final int FALLBACK_RULE_NONE = 0;
    public static final int FALLBACK_RULE_AUTO = 1;
    @NonNull public static final AspectRatioStrategy RATIO_16_9_FALLBACK_AUTO_STRATEGY = null;
    @NonNull public static final AspectRatioStrategy RATIO_4_3_FALLBACK_AUTO_STRATEGY = null;
    public AspectRatioStrategy(int preferredAspectRatio, int fallbackRule) { throw new RuntimeException("stub"); }
}
