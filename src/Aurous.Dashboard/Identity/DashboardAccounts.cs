using System.Threading.RateLimiting;
using Aurous.Accounts;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aurous.Dashboard.Identity;

/// <summary>
/// Dashboard accounts: ASP.NET Core Identity in Postgres, the session cookie, rate-limited sign-in, the stores every
/// team page reads through, and the account seeded at start-up.
/// </summary>
public static class DashboardAccounts
{
    public const string SignInPath = "/account/sign-in";
    public const string SignOutPath = "/account/sign-out";
    public const string CookieName = "aurous_session";
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(8);

    public static WebApplicationBuilder AddDashboardAccounts(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        builder.AddNpgsqlDataSource("postgres");
        builder.AddAccountStores();
        services.AddDbContext<AccountsDbContext>((sp, o) => o.UseNpgsql(sp.GetRequiredService<NpgsqlDataSource>()));

        services.AddIdentity<IdentityUser, IdentityRole>(ConfigureIdentity)
            .AddEntityFrameworkStores<AccountsDbContext>()
            .AddDefaultTokenProviders();
        services.ConfigureApplicationCookie(o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = SessionLifetime;
            o.SlidingExpiration = true;
            o.LoginPath = SignInPath;
            o.LogoutPath = SignOutPath;
            o.ReturnUrlParameter = "returnUrl";
            // A signed-in user without the right gets a plain 403, not a page that does not exist.
            o.Events.OnRedirectToAccessDenied = context =>
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            };
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(PlatformRoles.OperatorPolicy, p => p.RequireAuthenticatedUser().RequireRole(PlatformRoles.Operator));
        services.AddCascadingAuthenticationState();
        services.AddScoped<TeamAccess>();
        services.AddSingleton<Operators.PlatformTeams>();

        services.AddOptions<SignInLimitOptions>().BindConfiguration(SignInLimitOptions.Section)
            .Validate(o => o.AttemptsPerMinute > 0, $"{SignInLimitOptions.Section}:{nameof(SignInLimitOptions.AttemptsPerMinute)} must be at least 1.")
            .ValidateOnStart();
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (context, ct) =>
            {
                context.HttpContext.Response.ContentType = "text/html; charset=utf-8";
                await context.HttpContext.Response.WriteAsync(
                    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Too many attempts · Aurous</title></head><body>"
                    + "<h1>Too many attempts</h1><p role=\"alert\">Too many sign-in attempts from this address. Wait a minute and try again.</p>"
                    + "<p><a href=\"/account/sign-in\">Back to sign in</a></p></body></html>", ct);
            };
            // Sign-in posts, per client address; everything else is not limited here.
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                HttpMethods.IsPost(context.Request.Method) && context.Request.Path.StartsWithSegments(SignInPath)
                    ? RateLimitPartition.GetFixedWindowLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                        _ => new FixedWindowRateLimiterOptions
                        {
                            PermitLimit = context.RequestServices.GetRequiredService<IOptions<SignInLimitOptions>>().Value.AttemptsPerMinute,
                            Window = TimeSpan.FromMinutes(1),
                            QueueLimit = 0,
                        })
                    : RateLimitPartition.GetNoLimiter("other"));
        });

        builder.AddAccountSeed();
        return builder;
    }

    /// <summary>Account rules: unique emails, passwords of at least 12 characters (length over character classes),
    /// 15 minutes of lockout after 5 failed sign-ins.</summary>
    public static void ConfigureIdentity(IdentityOptions o)
    {
        o.User.RequireUniqueEmail = true;
        o.Password.RequiredLength = 12;
        o.Password.RequireDigit = false;
        o.Password.RequireLowercase = false;
        o.Password.RequireUppercase = false;
        o.Password.RequireNonAlphanumeric = false;
        o.Lockout.MaxFailedAccessAttempts = 5;
        o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
        o.Lockout.AllowedForNewUsers = true;
        o.SignIn.RequireConfirmedAccount = false;
    }

    public static WebApplication MapDashboardAccounts(this WebApplication app)
    {
        app.MapPost(SignOutPath, async (HttpContext context, IAntiforgery antiforgery, SignInManager<IdentityUser> signIn) =>
            {
                if (!await antiforgery.IsRequestValidAsync(context))
                {
                    return Results.BadRequest("The form could not be accepted. Reload the page and try again.");
                }
                await signIn.SignOutAsync();
                return Results.LocalRedirect(SignInPath);
            })
            .DisableAntiforgery() // validated above
            .ExcludeFromDescription();
        return app;
    }
}
