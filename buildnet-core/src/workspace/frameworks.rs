//! Framework inference, as Turborepo does it: a package whose external dependencies show a
//! known framework gets that framework's public variables (`NEXT_PUBLIC_*`, `VITE_*`, ...) in
//! its tasks' `env`, hashed and passed. The first framework in this list whose dependencies
//! match wins (`all` of them, or `some`). The list follows turbo's `frameworks.json`
//! (turbo-types, 2.x).

use std::collections::BTreeMap;

/// One known framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framework {
    pub slug: &'static str,
    /// Variables (and `FOO_*` patterns) its tasks hash and receive.
    pub env: &'static [&'static str],
    /// Whether every dependency must be present (`all`) or one is enough (`some`).
    pub all: bool,
    pub dependencies: &'static [&'static str],
}

const NITRO_ENV: [&str; 12] = [
    "NITRO_*",
    "SERVER_*",
    "AWS_APP_ID",
    "INPUT_AZURE_STATIC_WEB_APPS_API_TOKEN",
    "CLEAVR",
    "CF_PAGES",
    "FIREBASE_APP_HOSTING",
    "NETLIFY",
    "STORMKIT",
    "NOW_BUILDER",
    "ZEABUR",
    "RENDER",
];

const fn fw(
    slug: &'static str,
    env: &'static [&'static str],
    all: bool,
    dependencies: &'static [&'static str],
) -> Framework {
    Framework {
        slug,
        env,
        all,
        dependencies,
    }
}

/// In turbo's order (the first match wins).
pub const FRAMEWORKS: [Framework; 15] = [
    fw("astro", &["PUBLIC_*"], true, &["astro"]),
    fw("blitzjs", &["NEXT_PUBLIC_*"], true, &["blitz"]),
    fw(
        "create-react-app",
        &["REACT_APP_*"],
        false,
        &["react-scripts", "react-dev-utils"],
    ),
    fw("expo", &["EXPO_PUBLIC_*"], true, &["expo"]),
    fw("gatsby", &["GATSBY_*"], true, &["gatsby"]),
    fw("nextjs", &["NEXT_PUBLIC_*"], true, &["next"]),
    fw(
        "nitro",
        &NITRO_ENV,
        false,
        &["nitropack", "nitropack-nightly", "nitro", "nitro-nightly"],
    ),
    fw(
        "nuxtjs",
        &[
            "NUXT_*",
            "NUXT_ENV_*",
            "NITRO_*",
            "SERVER_*",
            "AWS_APP_ID",
            "INPUT_AZURE_STATIC_WEB_APPS_API_TOKEN",
            "CLEAVR",
            "CF_PAGES",
            "FIREBASE_APP_HOSTING",
            "NETLIFY",
            "STORMKIT",
            "NOW_BUILDER",
            "ZEABUR",
            "RENDER",
            "LAUNCH_EDITOR",
        ],
        false,
        &["nuxt", "nuxt-edge", "nuxt3", "nuxt3-edge"],
    ),
    fw("redwoodjs", &["REDWOOD_ENV_*"], true, &["@redwoodjs/core"]),
    fw(
        "remix",
        &["REMIX_*"],
        false,
        &[
            "@remix-run/dev",
            "@remix-run/react",
            "@remix-run/serve",
            "@react-router/dev",
        ],
    ),
    fw("sanity", &["SANITY_STUDIO_*"], true, &["@sanity/cli"]),
    fw(
        "solidstart",
        &["VITE_*"],
        true,
        &["solid-js", "solid-start"],
    ),
    fw(
        "sveltekit",
        &["VITE_*", "PUBLIC_*"],
        true,
        &["@sveltejs/kit"],
    ),
    fw("vite", &["VITE_*"], true, &["vite"]),
    fw(
        "vue",
        &["VUE_APP_*", "LAUNCH_EDITOR"],
        true,
        &["@vue/cli-service"],
    ),
];

/// The framework a package's external dependencies show, if any.
pub fn infer(external: &BTreeMap<String, String>) -> Option<&'static Framework> {
    FRAMEWORKS.iter().find(|f| {
        let has = |d: &&str| external.contains_key(*d);
        if f.all {
            f.dependencies.iter().all(has)
        } else {
            f.dependencies.iter().any(has)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| (n.to_string(), "1.0.0".into()))
            .collect()
    }

    #[test]
    fn first_matching_framework_wins() {
        assert_eq!(infer(&deps(&["next", "react"])).unwrap().slug, "nextjs");
        assert_eq!(infer(&deps(&["vite"])).unwrap().env, ["VITE_*"]);
        // SvelteKit comes before plain Vite.
        assert_eq!(
            infer(&deps(&["vite", "@sveltejs/kit"])).unwrap().slug,
            "sveltekit"
        );
        assert_eq!(
            infer(&deps(&["react-dev-utils"])).unwrap().slug,
            "create-react-app"
        );
        assert!(
            infer(&deps(&["solid-js"])).is_none(),
            "solidstart needs both"
        );
        assert!(infer(&deps(&["left-pad"])).is_none());
    }
}
