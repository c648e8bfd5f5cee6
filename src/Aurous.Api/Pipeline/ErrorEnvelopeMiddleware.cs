namespace Aurous.Api.Pipeline;

/// <summary>
/// Answers every failure in the error envelope: a declared body over the limit, bad bodies the framework rejects,
/// unhandled exceptions, and the bodiless responses the framework produces itself (no route, wrong method, ...).
/// </summary>
public sealed class ErrorEnvelopeMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        // Judge a declared length before reading anything, so a client that waits for 100-continue never uploads it.
        if (context.Request.ContentLength > PipelineExtensions.MaxRequestBodyBytes)
        {
            await ApiError.PayloadTooLarge(PipelineExtensions.MaxRequestBodyBytes).WriteAsync(context);
            return;
        }
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            var error = ex.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => ApiError.PayloadTooLarge(PipelineExtensions.MaxRequestBodyBytes),
                StatusCodes.Status415UnsupportedMediaType => ApiError.UnsupportedMediaType(),
                _ => ApiError.InvalidRequest("invalid_json", ex.InnerException is System.Text.Json.JsonException json
                    ? $"The request body is not valid JSON: {json.Message}"
                    : ex.Message),
            };
            context.Response.Clear();
            await error.WriteAsync(context);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
            return;
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Aurous.Api.Errors")
                .LogError(ex, "Unhandled error on {Method} {Path} ({RequestId})", context.Request.Method, context.Request.Path, RequestContext.Of(context).RequestId);
            context.Response.Clear();
            await ApiError.Internal().WriteAsync(context);
            return;
        }

        // Responses the framework produced without a body (no route, wrong method, ...) get the envelope too.
        if (context.Response.HasStarted || context.Response.StatusCode < 400 || context.Response.ContentLength > 0)
        {
            return;
        }
        var fallback = context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound => ApiError.RouteNotFound(context),
            StatusCodes.Status405MethodNotAllowed => ApiError.MethodNotAllowed(context),
            StatusCodes.Status413PayloadTooLarge => ApiError.PayloadTooLarge(PipelineExtensions.MaxRequestBodyBytes),
            StatusCodes.Status415UnsupportedMediaType => ApiError.UnsupportedMediaType(),
            StatusCodes.Status416RangeNotSatisfiable => ApiError.RangeNotSatisfiable(),
            var s when s < 500 => new ApiError(s, "invalid_request", "bad_request", "The request could not be processed."),
            var s => new ApiError(s, "api_error", "internal_error", "The server could not process the request."),
        };
        // A framework result may have declared an empty body (a 416 from range processing): the envelope replaces it.
        context.Response.ContentLength = null;
        await fallback.WriteAsync(context);
    }
}
