// The mobileseg demo app: ":core" is a plain JVM library (Java 11, no Android imports) holding all
// the app's logic, unit-tested without Android; ":app" is the thin Android layer over it.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "mobileseg-demo"
include(":app", ":core")
