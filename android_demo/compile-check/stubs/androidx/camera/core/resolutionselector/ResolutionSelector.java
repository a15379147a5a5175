package androidx.camera.core.resolutionselector;
import androidx.annotation.NonNull;
public final class ResolutionSelector {
    private ResolutionSelector() { throw new RuntimeException("stub"); }
    public static final class Builder {
        public Builder() { throw new RuntimeException("stub"); }
        @NonNull public ResolutionSelector build() { throw new RuntimeException("stub"); }
        @NonNull public Builder setAspectRatioStrategy(@NonNull AspectRatioStrategy aspectRatioStrategy) { throw new RuntimeException("stub"); }
        @NonNull public Builder setResolutionStrategy(@NonNull ResolutionStrategy resolutionStrategy) { throw new RuntimeException("stub"); }
    }
}
