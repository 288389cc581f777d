-- Repository names are unique regardless of case (as on every major forge), so `Demo/Hello` and
-- `demo/hello` can never be two repositories; lookups use the same expression.
CREATE UNIQUE INDEX repositories_owner_name_ci ON repositories (lower(owner), lower(name));
