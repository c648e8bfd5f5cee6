using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace Aurous.Dashboard.Identity;

/// <summary>
/// Dashboard accounts and platform roles (ASP.NET Core Identity) in the schema <see cref="Schema"/>. The schema is
/// created by the plain SQL migration 0009_identity.sql, which matches this model (a test compares them).
/// </summary>
public sealed class AccountsDbContext(DbContextOptions<AccountsDbContext> options) : IdentityDbContext<IdentityUser>(options)
{
    public const string Schema = "identity";

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.HasDefaultSchema(Schema);
    }
}
