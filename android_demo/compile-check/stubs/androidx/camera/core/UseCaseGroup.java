package androidx.camera.core;
import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import java.util.List;
public final class UseCaseGroup {
    private UseCaseGroup() { throw new RuntimeException("stub"); }
    @NonNull public List<UseCase> getUseCases() { throw new RuntimeException("stub"); }
    @Nullable public ViewPort getViewPort() { throw new RuntimeException("stub"); }
    public static final class Builder {
        public Builder() { throw new RuntimeException("stub"); }
        @NonNull public Builder addUseCase(@NonNull UseCase useCase) { throw new RuntimeException("stub"); }
        @NonNull public Builder setViewPort(@NonNull ViewPort viewPort) { throw new RuntimeException("stub"); }
        @NonNull public UseCaseGroup build() { throw new RuntimeException("stub"); }
    }
}
