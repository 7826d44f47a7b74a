#include "kitsync/sync/client_enroll.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "kitsync/core/durable_file.h"
#include "kitsync/core/ids.h"
#include "kitsync/sync/server_auth.h"
#include "kitsync/v1/enrollment.grpc.pb.h"

namespace kitsync::sync {
namespace {

constexpr char kAttemptHeader[] = "kitsync enrolment attempt 1";
constexpr size_t kMaxAttemptBytes = 1024;

core::Status CheckResponse(const v1::EnrollResponse& r) {
  auto incomplete = [](const std::string& what) {
    return core::Status::Internal("the server's enrolment answer is unusable: " + what);
  };
  if (r.device_id().size() != 16) return incomplete("the device ID is not 16 bytes");
  if (r.post_code().empty()) return incomplete("it names no post");
  if (!ValidateDeviceToken(r.device_token()).ok()) return incomplete("the credential is invalid");
  if (r.programme_key().size() < 16) return incomplete("the programme key is too short");
  return core::Status::Ok();
}

// The file names the code by its digest, so the code itself is not left lying around; the
// credential is there in clear, as it will be in the tablet's database.
struct Attempt {
  std::string code_sha256_hex;
  std::string device_token;
};

std::string Render(const Attempt& a) {
  return std::string(kAttemptHeader) + "\ncode-sha256 " + a.code_sha256_hex + "\ndevice-token " +
         a.device_token + "\n";
}

core::Result<Attempt> Parse(const std::string& path, const std::string& text) {
  std::istringstream in(text);
  std::string header, code_key, token_key;
  Attempt a;
  std::getline(in, header);
  in >> code_key >> a.code_sha256_hex >> token_key >> a.device_token;
  if (header != kAttemptHeader || code_key != "code-sha256" || token_key != "device-token" ||
      a.code_sha256_hex.size() != 64 || !IsWellFormedDeviceToken(a.device_token)) {
    return core::Status::FailedPrecondition(
        path + " is not a kitsync enrolment attempt; move it away and enrol again");
  }
  return a;
}

// The credential to offer for `code`: the one kept for the same code, or a new one, kept before
// anything is sent.
core::Result<std::string> CredentialFor(const std::string& code, const std::string& path) {
  const std::string code_hex = core::ToHex(Sha256(NormalizeEnrolmentCode(code)));
  ASSIGN_OR_RETURN(auto text, core::ReadSmallFile(path, kMaxAttemptBytes));
  if (text.has_value()) {
    ASSIGN_OR_RETURN(Attempt kept, Parse(path, *text));
    if (kept.code_sha256_hex == code_hex) return kept.device_token;
  }
  Attempt fresh{code_hex, {}};
  ASSIGN_OR_RETURN(fresh.device_token, NewDeviceToken());
  RETURN_IF_ERROR(core::ReplaceFileDurably(path, Render(fresh)));
  return fresh.device_token;
}

bool RefusedForGood(const core::Status& s) {
  switch (s.code()) {
    case core::Code::kUnauthenticated:
    case core::Code::kPermissionDenied:
    case core::Code::kInvalidArgument:
    case core::Code::kNotFound:
    case core::Code::kFailedPrecondition:
    case core::Code::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string EnrolmentAttemptPath(const std::string& db_path) {
  return db_path + ".kitsync-enrolment";
}

core::Result<v1::EnrollResponse> Enroll(const std::string& address, const std::string& ca_file,
                                        const std::string& code, const std::string& device_name,
                                        const std::string& attempt_file,
                                        const GrpcTransportOptions& options) {
  if (code.empty()) return core::Status::InvalidArgument("the enrolment code is empty");
  ASSIGN_OR_RETURN(auto channel, MakeChannel(address, ca_file, options.channel));
  ASSIGN_OR_RETURN(std::string credential, CredentialFor(code, attempt_file));
  auto stub = v1::Enrollment::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options.call_deadline);
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  v1::EnrollRequest request;
  request.set_code(code);
  request.set_device_name(device_name);
  request.set_device_token(credential);
  v1::EnrollResponse response;
  const grpc::Status status = stub->Enroll(&context, request, &response);
  if (!status.ok()) {
    core::Status error = CallError("enrolment", status);
    // The server refused this code with this credential: no later attempt can succeed, so
    // nothing is worth keeping. After an unknown outcome the attempt is kept for the next try.
    if (RefusedForGood(error)) (void)ForgetEnrolmentAttempt(attempt_file);
    return error;
  }
  RETURN_IF_ERROR(CheckResponse(response));
  return response;
}

core::Status ForgetEnrolmentAttempt(const std::string& attempt_file) {
  if (::unlink(attempt_file.c_str()) == 0 || errno == ENOENT) return core::Status::Ok();
  return core::Status::Internal("cannot remove " + attempt_file + ": " + std::strerror(errno));
}

}  // namespace kitsync::sync
